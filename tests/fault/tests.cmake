# Fault and load tests: real processes on 127.0.0.1, bounded in time.
add_test(NAME fault.chaos
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/chaos.sh $<TARGET_FILE:shears>
          $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin> $<TARGET_FILE:shears-synth>)
set_tests_properties(fault.chaos PROPERTIES
  LABELS fault TIMEOUT 600 RUN_SERIAL TRUE
  ENVIRONMENT "SHEARS_FMNIST=/usr/share/datasets/fashion-mnist;OMP_NUM_THREADS=1")
add_test(NAME fault.load
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/load.sh $<TARGET_FILE:shears>
          $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin> $<TARGET_FILE:shears-synth>)
set_tests_properties(fault.load PROPERTIES
  LABELS fault TIMEOUT 600 RUN_SERIAL TRUE ENVIRONMENT "OMP_NUM_THREADS=1")
add_test(NAME fault.diskfull
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/diskfull.sh $<TARGET_FILE:shears>
          $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin> $<TARGET_FILE:shears-synth>)
set_tests_properties(fault.diskfull PROPERTIES
  LABELS fault TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1")
add_test(NAME fault.limits
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/limits.sh $<TARGET_FILE:shears>
          $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin> $<TARGET_FILE:shears-synth>)
set_tests_properties(fault.limits PROPERTIES
  LABELS fault TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1")
