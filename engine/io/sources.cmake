# Safetensors I/O and streaming checkpoint conversion (issue 5).
target_sources(chainconv PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/byte_runs.cc
  ${CMAKE_CURRENT_LIST_DIR}/checkpoint.cc
  ${CMAKE_CURRENT_LIST_DIR}/compare_bytes.cc
  ${CMAKE_CURRENT_LIST_DIR}/convert.cc
  ${CMAKE_CURRENT_LIST_DIR}/copy_tree.cc
  ${CMAKE_CURRENT_LIST_DIR}/fs_util.cc
  ${CMAKE_CURRENT_LIST_DIR}/mapped_file.cc
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.cc
  ${CMAKE_CURRENT_LIST_DIR}/safetensors_header.cc
  ${CMAKE_CURRENT_LIST_DIR}/safetensors_index.cc
  ${CMAKE_CURRENT_LIST_DIR}/temp_dir.cc
  ${CMAKE_CURRENT_LIST_DIR}/trace.cc
  ${CMAKE_CURRENT_LIST_DIR}/verify.cc
  ${CMAKE_CURRENT_LIST_DIR}/writer.cc)
