fn main() -> Result<(), Box<dyn std::error::Error>> {
    // a fresh machine has no protoc: use the vendored binary
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto/strom.proto");
    tonic_prost_build::configure().compile_protos(&["proto/strom.proto"], &["proto"])?;
    Ok(())
}
