/* vmsandbox-appliance: what the dropped child of an appliance phase
 * executes (src/lib/helper.h).  Not meant to be run by hand. */
#include "helper.h"

int main(int argc, char **argv)
{
        return vs_helper_main(argc, argv);
}
