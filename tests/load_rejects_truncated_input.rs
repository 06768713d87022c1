//! Issue 11 case 5: `shale load` refuses an LZ4 frame without its end mark (cut at a block
//! boundary, where a decoder alone just stops), and every load error names the record
//! number and byte offset; a JSON line whose key is a number says so.

mod common;

fn lz4_frame(data: &[u8]) -> Vec<u8> {
    let info = lz4_flex::frame::FrameInfo::new().block_size(lz4_flex::frame::BlockSize::Max64KB);
    let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    std::io::Write::write_all(&mut enc, data).expect("encode");
    enc.finish().expect("finish")
}

#[test]
fn an_lz4_frame_cut_at_a_block_boundary_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tsv = Vec::new();
    for i in 0..3_000u32 {
        let value: String = common::value_for(u64::from(i), 60)
            .iter()
            .map(|b| char::from(b'a' + b % 26))
            .collect();
        tsv.extend_from_slice(format!("key{i:05}\t{value}\n").as_bytes());
    }
    let frame = lz4_frame(&tsv);
    // Header: magic (4), FLG, BD, [content size], header checksum. Then blocks.
    let flg = frame[4];
    let mut pos = 4 + 2 + if flg & 0x08 != 0 { 8 } else { 0 } + 1;
    let block = u32::from_le_bytes(frame[pos..pos + 4].try_into().expect("4 bytes")) & 0x7fff_ffff;
    pos += 4 + block as usize + if flg & 0x10 != 0 { 4 } else { 0 };
    assert!(pos < frame.len() - 8, "the frame has more than one block");
    let input = dir.path().join("cut.tsv.lz4");
    std::fs::write(&input, &frame[..pos]).expect("write");
    let out = common::shale_db(
        &dir.path().join("db"),
        &["load", "--format", "tsv", input.to_str().expect("utf8")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(
        err.contains("end mark") && err.contains("byte offset"),
        "{err}"
    );
    assert!(err.contains("record "), "names the record: {err}");

    // The whole frame loads every record.
    let whole = dir.path().join("whole.tsv.lz4");
    std::fs::write(&whole, &frame).expect("write");
    let out = common::shale_db(
        &dir.path().join("db2"),
        &["load", "--format", "tsv", whole.to_str().expect("utf8")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = shaledb::Db::open(dir.path().join("db2"), shaledb::Options::default()).expect("open");
    assert_eq!(db.iter().count(), 3_000);
}

#[test]
fn a_json_key_that_is_a_number_is_named_with_its_record_and_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        b"{\"key\": \"a\", \"value\": \"1\"}\n{\"key\": 42, \"value\": \"2\"}\n",
    )
    .expect("write");
    let out = common::shale_db(
        &dir.path().join("db"),
        &["load", "--format", "jsonl", input.to_str().expect("utf8")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("record 2 at byte offset 27"), "{err}");
    assert!(err.contains("\"key\" is a number"), "{err}");
}
