# The DNS wire codec and the pure responder (geodns/codec.cmake).
cdn_test(unit_geodns_codec
  SOURCES codec_test.cpp responder_test.cpp
  DEPS cdn_geodns_codec LABELS unit)
