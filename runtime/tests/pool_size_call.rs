//! `dl_set_num_threads` before the pool's first use sizes it; after, it
//! changes nothing. (A test binary of its own: the pool is built once per
//! process.)

use dl_runtime::parallel::*;

#[test]
fn set_before_first_use() {
    dl_set_num_threads(3);
    dl_set_num_threads(-1); // ignored
    assert_eq!(dl_num_threads(), 3);
    dl_set_num_threads(5);
    assert_eq!(dl_num_threads(), 3);
}
