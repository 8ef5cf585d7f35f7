//! Compiles proto/msrpswitch/v1/switch.proto with protox (pure Rust: no protoc on
//! the machine) and writes the descriptor set that server reflection serves.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/msrpswitch/v1/switch.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("msrpswitch_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    // google.rpc error details (ErrorInfo, BadRequest, ResourceInfo), which every
    // error's details carry: served by reflection so grpcurl can decode them. Only
    // the descriptors: tonic-types has the Rust types.
    let details = "proto/google/rpc/error_details.proto";
    println!("cargo:rerun-if-changed={details}");
    let details = protox::Compiler::new(["proto"])?
        .include_imports(true)
        .open_files([details])?
        .encode_file_descriptor_set();
    std::fs::write(out.join("error_details_descriptor.bin"), details)?;
    let encoded = descriptors.encode_to_vec();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    // The canonical proto3 JSON mapping of every message (serde, by pbjson): the
    // one JSON of the API, for msrpctl --json and the HTTP front.
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        .build(&[".msrpswitch"])?;
    Ok(())
}
