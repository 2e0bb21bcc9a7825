# Replay plans: a chain compiled against one key set, replayed without template matching (issue 6).
target_sources(chainconv PRIVATE ${CMAKE_CURRENT_LIST_DIR}/replay_plan.cc)
