//! Wire-format checks for the generated CRI messages. The expected bytes are computed by hand
//! from the protobuf encoding rules (tag = field << 3 | wire type; varints little-endian base-128;
//! negative int32/int64 as 10-byte two's complement varints), so this test catches a byte-order
//! mistake anywhere in the codec when it runs on big-endian s390x under qemu (hack/runtime-ci).
use outrigger_cri_proto::{
    ContainerState, ContainerStatus, ExecSyncResponse, HugepageLimit, LinuxContainerResources,
    PodSandboxMetadata, VersionResponse,
};
use prost::Message;

#[test]
fn version_response_encodes_to_known_bytes_and_back() {
    let msg = VersionResponse {
        version: "0.1.0".into(),
        runtime_name: "outrigger".into(),
        runtime_version: "0.1.0".into(),
        runtime_api_version: "v1".into(),
    };
    let mut want = vec![0x0a, 5];
    want.extend_from_slice(b"0.1.0");
    want.extend_from_slice(&[0x12, 9]);
    want.extend_from_slice(b"outrigger");
    want.extend_from_slice(&[0x1a, 5]);
    want.extend_from_slice(b"0.1.0");
    want.extend_from_slice(&[0x22, 2]);
    want.extend_from_slice(b"v1");

    let got = msg.encode_to_vec();
    assert_eq!(got, want);
    assert_eq!(VersionResponse::decode(got.as_slice()).unwrap(), msg);
}

#[test]
fn linux_resources_varints_and_nested_message_match_the_wire_format() {
    let msg = LinuxContainerResources {
        cpu_period: 100_000,
        cpu_quota: -1,
        memory_limit_in_bytes: 1 << 32,
        hugepage_limits: vec![HugepageLimit {
            page_size: "2MB".into(),
            limit: 1 << 30,
        }],
        ..Default::default()
    };
    let want: Vec<u8> = [
        // cpu_period = 100000
        &[0x08, 0xa0, 0x8d, 0x06][..],
        // cpu_quota = -1
        &[
            0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ],
        // memory_limit_in_bytes = 2^32
        &[0x20, 0x80, 0x80, 0x80, 0x80, 0x10],
        // hugepage_limits[0] = { page_size: "2MB", limit: 2^30 }
        &[
            0x42, 11, 0x0a, 3, b'2', b'M', b'B', 0x10, 0x80, 0x80, 0x80, 0x80, 0x04,
        ],
    ]
    .concat();

    let got = msg.encode_to_vec();
    assert_eq!(got, want);
    assert_eq!(msg.encoded_len(), want.len());
    let back = LinuxContainerResources::decode(want.as_slice()).unwrap();
    assert_eq!(back.cpu_quota, -1);
    assert_eq!(back.memory_limit_in_bytes, 4_294_967_296);
    assert_eq!(back.hugepage_limits[0].limit, 1_073_741_824);
    assert_eq!(back, msg);
}

#[test]
fn negative_int32_and_uint32_decode_from_known_bytes() {
    // exit_code (field 7, int32) = -2: sign-extended to 64 bits, 10 bytes.
    let bytes = [
        0x38, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, //
        0x18, 0x02, // state (field 3, enum) = CONTAINER_EXITED
    ];
    let status = ContainerStatus::decode(&bytes[..]).unwrap();
    assert_eq!(status.exit_code, -2);
    assert_eq!(status.state(), ContainerState::ContainerExited);

    let meta = PodSandboxMetadata {
        name: "p".into(),
        attempt: 300,
        ..Default::default()
    };
    assert_eq!(meta.encode_to_vec(), [0x0a, 1, b'p', 0x20, 0xac, 0x02]);
}

#[test]
fn bytes_fields_and_maps_survive_a_round_trip() {
    let exec = ExecSyncResponse {
        stdout: vec![0x00, 0xff, 0x80, b'\n'],
        stderr: b"oops".to_vec(),
        exit_code: 3,
    };
    let enc = exec.encode_to_vec();
    assert_eq!(&enc[..6], &[0x0a, 4, 0x00, 0xff, 0x80, b'\n']);
    assert_eq!(ExecSyncResponse::decode(enc.as_slice()).unwrap(), exec);

    let mut status = ContainerStatus {
        id: "c1".into(),
        created_at: 1_764_000_000_123_456_789,
        ..Default::default()
    };
    status.labels.insert("app".into(), "web".into());
    status.annotations.insert("k".into(), String::new());
    let back = ContainerStatus::decode(status.encode_to_vec().as_slice()).unwrap();
    assert_eq!(back.created_at, 1_764_000_000_123_456_789);
    assert_eq!(back, status);
}

#[test]
fn truncated_input_is_an_error_not_a_panic() {
    // A varint tag with its continuation bit set and nothing after it.
    assert!(LinuxContainerResources::decode(&[0x08, 0x80][..]).is_err());
    // A length-delimited field claiming more bytes than there are.
    assert!(VersionResponse::decode(&[0x0a, 5, b'a'][..]).is_err());
}
