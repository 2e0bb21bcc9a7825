# The chain schema embedded at build time (schema/chain.schema.json -> a .cc of its text), so
# that the validator always uses the schema editors see. Sets CHAINCONV_SCHEMA_CC.
set(CHAINCONV_SCHEMA_FILE ${PROJECT_SOURCE_DIR}/schema/chain.schema.json)
set(CHAINCONV_SCHEMA_CC ${CMAKE_CURRENT_BINARY_DIR}/check/chain_schema_text.cc)
add_custom_command(
  OUTPUT ${CHAINCONV_SCHEMA_CC}
  COMMAND ${CMAKE_COMMAND} -DIN=${CHAINCONV_SCHEMA_FILE} -DOUT=${CHAINCONV_SCHEMA_CC}
          -P ${CMAKE_CURRENT_LIST_DIR}/embed_schema.cmake
  DEPENDS ${CHAINCONV_SCHEMA_FILE} ${CMAKE_CURRENT_LIST_DIR}/embed_schema.cmake
  COMMENT "Embedding schema/chain.schema.json"
  VERBATIM)
