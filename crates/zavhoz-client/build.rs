//! Compiles `proto/zavhoz.proto` with pure-Rust protox (no protoc) and generates the tonic client, plus the
//! server traits and the encoded descriptor set (for gRPC reflection) when the `server` feature is on.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!(
        "cargo:rerun-if-changed={}",
        proto_dir.join("zavhoz.proto").display()
    );
    let descriptors = protox::compile(["zavhoz.proto"], [&proto_dir])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("zavhoz_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    let server = std::env::var_os("CARGO_FEATURE_SERVER").is_some();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(server)
        // These carry secret values: their Debug is written by hand, redacted (src/proto.rs).
        .skip_debug([
            "zavhoz.v1.ResolveResponse",
            "zavhoz.v1.StoreUserSecretRequest",
        ])
        .compile_fds(descriptors)?;
    Ok(())
}
