# Integration tests: real processes, real files, real Fashion-MNIST.
set(SHEARS_IT_ENV "SHEARS_FMNIST=/usr/share/datasets/fashion-mnist;OMP_NUM_THREADS=1")
add_test(NAME integration.run_sweep
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_sweep.sh $<TARGET_FILE:shears>)
set_tests_properties(integration.run_sweep PROPERTIES
  LABELS integration TIMEOUT 900 ENVIRONMENT "${SHEARS_IT_ENV}")
add_test(NAME integration.cifar_resnet
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cifar_resnet.sh $<TARGET_FILE:shears>)
set_tests_properties(integration.cifar_resnet PROPERTIES
  LABELS integration TIMEOUT 600 ENVIRONMENT "${SHEARS_IT_ENV}")
add_test(NAME integration.distributed
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/distributed.sh $<TARGET_FILE:shears>
          $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin>)
set_tests_properties(integration.distributed PROPERTIES
  LABELS integration TIMEOUT 1200 ENVIRONMENT "${SHEARS_IT_ENV}")
add_test(NAME integration.curve
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/curve.sh $<TARGET_FILE:shears>
          $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin>)
set_tests_properties(integration.curve PROPERTIES
  LABELS "integration;security" TIMEOUT 600 ENVIRONMENT "${SHEARS_IT_ENV}")
add_test(NAME integration.report
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/report.sh $<TARGET_FILE:shears>
          $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin>)
set_tests_properties(integration.report PROPERTIES
  LABELS integration TIMEOUT 600 ENVIRONMENT "${SHEARS_IT_ENV}")
add_test(NAME integration.status_page
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/status_page.sh $<TARGET_FILE:shears>
          $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin>)
set_tests_properties(integration.status_page PROPERTIES
  LABELS integration TIMEOUT 600 ENVIRONMENT "${SHEARS_IT_ENV}")
add_test(NAME integration.dataset_fetch
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/dataset_fetch.sh $<TARGET_FILE:shears>)
set_tests_properties(integration.dataset_fetch PROPERTIES
  LABELS integration TIMEOUT 600 ENVIRONMENT "${SHEARS_IT_ENV}")
# S3 client (proto/sh_s3) against a real radosgw started by s3_server.sh;
# prints SKIP and passes where Ceph is not installed.
add_executable(s3_check ${CMAKE_CURRENT_LIST_DIR}/s3_check.c)
target_link_libraries(s3_check PRIVATE shears-proto)
add_test(NAME integration.s3_store
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/s3_store.sh $<TARGET_FILE:s3_check>)
set_tests_properties(integration.s3_store PROPERTIES LABELS "integration;s3" TIMEOUT 600)
add_test(NAME integration.s3_broker
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/s3_broker.sh $<TARGET_FILE:shears>
          $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin>)
set_tests_properties(integration.s3_broker PROPERTIES
  LABELS "integration;s3" TIMEOUT 600 ENVIRONMENT "${SHEARS_IT_ENV}")
add_test(NAME integration.shm_python
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/shm_python.sh $<TARGET_FILE:shears>)
set_tests_properties(integration.shm_python PROPERTIES
  LABELS integration TIMEOUT 600 ENVIRONMENT "${SHEARS_IT_ENV}")

# Deployment: containers (docker, compose) and several hosts (namespaces).
add_test(NAME deploy.netns
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/deploy/netns.sh $<TARGET_FILE:shears>
          $<TARGET_FILE:shears-broker-bin> $<TARGET_FILE:shears-worker-bin>)
set_tests_properties(deploy.netns PROPERTIES
  LABELS "deploy" TIMEOUT 600 ENVIRONMENT "${SHEARS_IT_ENV}" RUN_SERIAL TRUE)
add_test(NAME deploy.docker_compose
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/deploy/docker_compose.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(deploy.docker_compose PROPERTIES
  LABELS "deploy;docker" TIMEOUT 1500 RUN_SERIAL TRUE)
add_test(NAME deploy.k8s_manifests
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/deploy/k8s_check.py ${PROJECT_SOURCE_DIR}/deploy/k8s)
set_tests_properties(deploy.k8s_manifests PROPERTIES LABELS "deploy" TIMEOUT 60)
