// The one translation unit that compiles Boost.JSON (header-only mode):
// every other file includes <boost/json.hpp> and depends on
// //pipeline/otlp:boost_json, so its symbols are defined exactly once per binary.
#include <boost/json/src.hpp>
