# cmake -P script: install the build tree into a fresh prefix, build tests/api/consumer
# against the installed package alone, and run it (and the installed Python module, when
# there is one) with no CHAINCONV_CHAINS_DIR, so the installed chains must be found by the
# library itself.
foreach(var BUILD_DIR CONSUMER_SOURCE WORK_DIR GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "installed_consumer_test.cmake: ${var} is not set")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(installed include/chainconv/chainconv.h share/chainconv/chains/qwen3_moe.yaml)
  if(NOT EXISTS ${prefix}/${installed})
    message(FATAL_ERROR "the install has no ${installed}")
  endif()
endforeach()

set(configure_args -S ${CONSUMER_SOURCE} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH=${prefix})
if(Torch_DIR)
  list(APPEND configure_args -DTorch_DIR=${Torch_DIR})
endif()
if(CXX_LAUNCHER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER})
endif()
if(SANITIZE)
  # An instrumented library needs an instrumented program around it.
  list(APPEND configure_args "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-omit-frame-pointer")
endif()
run("configuring the consumer" ${CMAKE_COMMAND} ${configure_args})
run("building the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run("running the consumer" ${CMAKE_COMMAND} -E env --unset=CHAINCONV_CHAINS_DIR ${WORK_DIR}/build/consumer)
message(STATUS "consumer: ${output}")
if(NOT output MATCHES "\nok\n$")
  message(FATAL_ERROR "unexpected consumer output:\n${output}")
endif()

file(GLOB_RECURSE modules ${prefix}/*/chainconv.cpython-*.so)
if(PYTHON AND modules)
  list(GET modules 0 module)
  get_filename_component(module_dir ${module} DIRECTORY)
  run("importing the installed Python module" ${CMAKE_COMMAND} -E env --unset=CHAINCONV_CHAINS_DIR
      PYTHONPATH=${module_dir} ${PYTHON} -c
      "import os, sys, chainconv\nfile = chainconv.Chain.for_model_type('qwen3_moe').file\nprint(file)\nprint(os.path.samefile(file, sys.argv[1]))"
      ${prefix}/share/chainconv/chains/qwen3_moe.yaml)
  if(NOT output MATCHES "True\n$")
    message(FATAL_ERROR "the installed Python module found:\n${output}")
  endif()
  message(STATUS "installed Python module: ${output}")
endif()
