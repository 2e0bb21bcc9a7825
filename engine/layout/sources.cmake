# Layouts: HF checkpoints as functions of config.json (chains/layouts/), and the meta and
# synthetic state dicts made from them.
target_sources(chainconv PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/expr.cc
  ${CMAKE_CURRENT_LIST_DIR}/layout.cc
  ${CMAKE_CURRENT_LIST_DIR}/synthetic.cc)
