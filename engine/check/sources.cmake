# engine/check: the chain checks behind chainlint (schema validation with positions, static
# analysis, symbolic roundtrip and coverage). The schema is embedded at build time.
set(CHAINCONV_SCHEMA_FILE ${PROJECT_SOURCE_DIR}/schema/chain.schema.json)
set(CHAINCONV_SCHEMA_CC ${CMAKE_CURRENT_BINARY_DIR}/check/chain_schema_text.cc)
add_custom_command(
  OUTPUT ${CHAINCONV_SCHEMA_CC}
  COMMAND ${CMAKE_COMMAND} -DIN=${CHAINCONV_SCHEMA_FILE} -DOUT=${CHAINCONV_SCHEMA_CC}
          -P ${CMAKE_CURRENT_LIST_DIR}/embed_schema.cmake
  DEPENDS ${CHAINCONV_SCHEMA_FILE} ${CMAKE_CURRENT_LIST_DIR}/embed_schema.cmake
  COMMENT "Embedding schema/chain.schema.json"
  VERBATIM)
target_sources(chainconv PRIVATE
  ${CHAINCONV_SCHEMA_CC}
  ${CMAKE_CURRENT_LIST_DIR}/finding.cc
  ${CMAKE_CURRENT_LIST_DIR}/flow.cc
  ${CMAKE_CURRENT_LIST_DIR}/lint.cc
  ${CMAKE_CURRENT_LIST_DIR}/references.cc
  ${CMAKE_CURRENT_LIST_DIR}/schema.cc
  ${CMAKE_CURRENT_LIST_DIR}/symbolic.cc
  ${CMAKE_CURRENT_LIST_DIR}/template_overlap.cc
)
