# Integration tests: real processes, real files, real Fashion-MNIST.
set(SHEARS_IT_ENV "SHEARS_FMNIST=/usr/share/datasets/fashion-mnist;OMP_NUM_THREADS=1")
set(SHEARS_IT_DIR ${CMAKE_CURRENT_LIST_DIR})
# A test script run with the three programs (shears, shears-broker,
# shears-worker) as its arguments, or with shears alone (CLIENT_ONLY).
function(shears_script_test name script labels timeout)
  cmake_parse_arguments(T "CLIENT_ONLY;SERIAL" "" "" ${ARGN})
  set(args $<TARGET_FILE:shears>)
  if(NOT T_CLIENT_ONLY)
    list(APPEND args $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin>)
  endif()
  add_test(NAME ${name} COMMAND bash ${script} ${args})
  set_tests_properties(${name} PROPERTIES LABELS "${labels}" TIMEOUT ${timeout}
    ENVIRONMENT "${SHEARS_IT_ENV}" RUN_SERIAL ${T_SERIAL})
endfunction()
shears_script_test(integration.run_sweep ${SHEARS_IT_DIR}/run_sweep.sh integration 900 CLIENT_ONLY)
shears_script_test(integration.cifar_resnet ${SHEARS_IT_DIR}/cifar_resnet.sh integration 600 CLIENT_ONLY)
shears_script_test(integration.distributed ${SHEARS_IT_DIR}/distributed.sh integration 1200)
shears_script_test(integration.curve ${SHEARS_IT_DIR}/curve.sh "integration;security" 600)
shears_script_test(integration.report ${SHEARS_IT_DIR}/report.sh integration 600)
shears_script_test(integration.status_page ${SHEARS_IT_DIR}/status_page.sh integration 600)
shears_script_test(integration.dataset_fetch ${SHEARS_IT_DIR}/dataset_fetch.sh integration 600 CLIENT_ONLY)
# S3 client (proto/sh_s3) against a real radosgw started by s3_server.sh;
# prints SKIP and passes where Ceph is not installed.
add_executable(s3_check ${CMAKE_CURRENT_LIST_DIR}/s3_check.c)
target_link_libraries(s3_check PRIVATE shears-proto)
add_test(NAME integration.s3_store
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/s3_store.sh $<TARGET_FILE:s3_check>)
set_tests_properties(integration.s3_store PROPERTIES LABELS "integration;s3" TIMEOUT 600)
shears_script_test(integration.s3_broker ${SHEARS_IT_DIR}/s3_broker.sh "integration;s3" 600)
shears_script_test(integration.shm_python ${SHEARS_IT_DIR}/shm_python.sh integration 600 CLIENT_ONLY)

# Deployment: containers (docker, compose) and several hosts (namespaces).
shears_script_test(deploy.netns ${PROJECT_SOURCE_DIR}/tests/deploy/netns.sh deploy 600 SERIAL)
add_test(NAME deploy.docker_compose
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/deploy/docker_compose.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy.docker_compose PROPERTIES
  LABELS "deploy;docker" TIMEOUT 1500 RUN_SERIAL TRUE)
add_test(NAME deploy.k8s_manifests
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/deploy/k8s_check.py ${PROJECT_SOURCE_DIR}/deploy/k8s)
set_tests_properties(deploy.k8s_manifests PROPERTIES LABELS "deploy" TIMEOUT 60)
