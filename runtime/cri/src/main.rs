//! outrigger-cri: being written (see runtime/README.md once it exists).
fn main() {}
