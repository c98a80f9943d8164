# geodns geography and steering: GeoDatabase on our fixtures and MaxMind's, Nets, GeoSteering.
cdn_test(unit_geodns_geo
  SOURCES geo_database_test.cpp nets_test.cpp geo_steering_test.cpp class_table_test.cpp
  DEPS cdn_geodns_geo LABELS unit)
target_compile_definitions(unit_geodns_geo PRIVATE
  GEODNS_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data")
