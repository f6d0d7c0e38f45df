// The integration-test runner: the store against a real MariaDB. Start it through tests/integration/run.sh
// (ctest -R integration), which provides the database; run directly, every suite reports itself skipped.
#define BOOST_TEST_MODULE relay_authority_integration
#include <boost/test/unit_test.hpp>
