# `cmake --install` layout:
#   bin/chainconv, bin/chainlint                the tools (no LibTorch: they link the core)
#   lib/libchainconv.so                         the library (RPATH kept to LibTorch)
#   include/chainconv/{chainconv,types}.h       the public header (and its value types)
#   lib/chainconv/chainconv_compute.so          the compute plugin
#   share/chainconv/chains, share/chainconv/schema
#   lib/python3.X/dist-packages/chainconv*.so   the Python module (python/CMakeLists.txt)
#   lib/cmake/chainconv/chainconvConfig.cmake   find_package(chainconv) -> chainconv::chainconv
include(CMakePackageConfigHelpers)

set(CHAINCONV_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/chainconv)
set(CHAINCONV_INSTALL_SHAREDIR ${CMAKE_INSTALL_DATADIR}/chainconv)

# The installed library and tools find the installed chains relative to their own file, so
# the prefix can be chosen at install time (cmake --install --prefix) or moved afterwards.
file(RELATIVE_PATH chainconv_chains_from_libdir ${CMAKE_INSTALL_FULL_LIBDIR}
     ${CMAKE_INSTALL_FULL_DATADIR}/chainconv/chains)
file(RELATIVE_PATH chainconv_chains_from_bindir ${CMAKE_INSTALL_FULL_BINDIR}
     ${CMAKE_INSTALL_FULL_DATADIR}/chainconv/chains)
# (Only the file that reads it is compiled with it, so that changing it rebuilds one file.)
set_property(SOURCE ${PROJECT_SOURCE_DIR}/engine/registry/chain_registry.cc
  DIRECTORY ${PROJECT_SOURCE_DIR}/engine APPEND PROPERTY
  COMPILE_DEFINITIONS CHAINCONV_CHAINS_FROM_LIBDIR="${chainconv_chains_from_libdir}"
  CHAINCONV_CHAINS_FROM_BINDIR="${chainconv_chains_from_bindir}")

set_target_properties(chainconv PROPERTIES
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
  INSTALL_RPATH_USE_LINK_PATH TRUE)

install(TARGETS chainconv EXPORT chainconvTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/engine/include/chainconv/chainconv.h
  ${PROJECT_SOURCE_DIR}/engine/include/chainconv/types.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/chainconv)
install(TARGETS chainconv_cli chainlint RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The compute plugin, loaded by tools that link the core alone when a conversion computes
# values; found relative to the binary (bin/ -> lib/chainconv/) or the library.
install(TARGETS chainconv_compute LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/chainconv)
file(RELATIVE_PATH chainconv_plugin_from_bindir ${CMAKE_INSTALL_FULL_BINDIR}
     ${CMAKE_INSTALL_FULL_LIBDIR}/chainconv)
set_property(SOURCE ${PROJECT_SOURCE_DIR}/engine/io/compute.cc
  DIRECTORY ${PROJECT_SOURCE_DIR}/engine APPEND PROPERTY
  COMPILE_DEFINITIONS CHAINCONV_PLUGIN_FROM_BINDIR="${chainconv_plugin_from_bindir}")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/chains/ DESTINATION ${CHAINCONV_INSTALL_SHAREDIR}/chains)
if(EXISTS ${PROJECT_SOURCE_DIR}/schema)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/schema/ DESTINATION ${CHAINCONV_INSTALL_SHAREDIR}/schema)
endif()

install(EXPORT chainconvTargets NAMESPACE chainconv:: DESTINATION ${CHAINCONV_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/chainconvConfig.cmake.in
  ${PROJECT_BINARY_DIR}/chainconvConfig.cmake
  INSTALL_DESTINATION ${CHAINCONV_INSTALL_CMAKEDIR}
  PATH_VARS CHAINCONV_INSTALL_SHAREDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/chainconvConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/chainconvConfig.cmake ${PROJECT_BINARY_DIR}/chainconvConfigVersion.cmake
  DESTINATION ${CHAINCONV_INSTALL_CMAKEDIR})
