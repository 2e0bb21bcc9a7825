# The schemas embedded at build time (schema/<name>.schema.json -> a .cc of its text), so that
# the validator always uses the schemas editors see. Sets CHAINCONV_SCHEMA_CC (the sources).
set(CHAINCONV_SCHEMA_CC "")
foreach(name chain layout)
  set(in ${PROJECT_SOURCE_DIR}/schema/${name}.schema.json)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/check/${name}_schema_text.cc)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${in} -DOUT=${out} -DNAME=${name}
            -P ${CMAKE_CURRENT_LIST_DIR}/embed_schema.cmake
    DEPENDS ${in} ${CMAKE_CURRENT_LIST_DIR}/embed_schema.cmake
    COMMENT "Embedding schema/${name}.schema.json"
    VERBATIM)
  list(APPEND CHAINCONV_SCHEMA_CC ${out})
endforeach()
