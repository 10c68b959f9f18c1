fn main() -> Result<(), Box<dyn std::error::Error>> {
    // a fresh machine has no protoc: use the vendored binary
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    println!("cargo:rerun-if-changed=proto/strom.proto");
    tonic_prost_build::configure().compile_with_config(
        config,
        &["proto/strom.proto"],
        &["proto"],
    )?;
    Ok(())
}
