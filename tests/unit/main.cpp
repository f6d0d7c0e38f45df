// The one unit-test runner. Each source file in tests/unit/ is one suite (BOOST_AUTO_TEST_SUITE) and
// includes only <boost/test/unit_test.hpp>.
#define BOOST_TEST_MODULE relay_authority_unit
#include <boost/test/unit_test.hpp>
