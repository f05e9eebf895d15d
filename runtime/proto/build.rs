//! Compiles the vendored CRI `api.proto` (k8s.io/cri-api v0.37.2, Apache-2.0) into tonic server
//! and client code. protoc comes from `protoc-bin-vendored` (it runs on the build host, so this
//! also works when cross-compiling for s390x).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY-free: build scripts are single-threaded; tonic-prost-build reads PROTOC.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto/api.proto");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_protos(&["proto/api.proto"], &["proto"])?;
    Ok(())
}
