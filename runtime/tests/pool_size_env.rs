//! `DL_NUM_THREADS` sizes the pool when no call does. (A test binary of its
//! own: the pool is built once per process.)

use dl_runtime::parallel::*;

#[test]
fn the_environment_variable() {
    // The only test of this process, so nothing reads the environment at the
    // same time.
    std::env::set_var("DL_NUM_THREADS", "3");
    assert_eq!(dl_num_threads(), 3);
}
