//! How stored JSON is compressed: zlib with a preset dictionary of Pipewright's own JSON.
//!
//! DynamoDB bills a write per started KB of the item, twice in a transaction, and the items a
//! commit writes are small: an execution of a few actions is 4 to 8 KB of JSON, an outbox batch
//! 0.2 to 6 KB. Plain gzip starts each of them with an empty window, so every field name is
//! spelled out once per item: an execution compressed to about 1.5 KB, two started KB. With
//! the field names and common values already in the window (the dictionary), the same
//! execution takes about half (docs/benchmarks.md, "stop 35").
//!
//! The stream is zlib's: its header names the dictionary by its Adler-32, and its trailer
//! checks the content. Items written before it are gzip streams, told apart by their first
//! two bytes, and still read.

use std::io::{Read, Write};

use flate2::{Compress, Compression, Decompress, FlushDecompress, Status};

use pipewright_core::ports::StoreError;

/// The dictionary: JSON as the stores write it (a declaration, a pipeline state, outbox
/// batches, an execution), with ids, times and deployment names taken out. **Frozen**: an
/// item written with it reads only with these exact bytes. Another dictionary would be a new
/// file, told apart by its Adler-32 in each stream's header, with this one kept for reading.
const DICTIONARY: &[u8] = include_bytes!("json_dictionary_1.txt");

/// gzip's magic number: items written before the dictionary.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Largest JSON a stored attribute may expand to. An item holds at most 400 KB compressed;
/// JSON this store writes does not expand past 32 times that. A bound, so that a damaged
/// stream cannot grow without end.
const MAX_JSON_BYTES: usize = 400 * 1024 * 32;

/// `json` compressed with the dictionary. Level 6: 9 gains under 1% on these items.
pub(super) fn compress(json: &[u8]) -> Result<Vec<u8>, StoreError> {
    let refused = |what: String| StoreError::Refused(format!("cannot compress: {what}"));
    let mut compress = Compress::new(Compression::default(), true);
    compress.set_dictionary(DICTIONARY).map_err(|e| refused(e.to_string()))?;
    let mut encoder = flate2::write::ZlibEncoder::new_with_compress(Vec::with_capacity(json.len() / 3 + 64), compress);
    encoder.write_all(json).map_err(|e| refused(e.to_string()))?;
    encoder.finish().map_err(|e| refused(e.to_string()))
}

/// The JSON bytes of a stored blob: a zlib stream of [`compress`], or a gzip stream written
/// before it. `what` names the attribute in errors, which are permanent (`Corrupt`).
pub(super) fn decompress(blob: &[u8], what: &str) -> Result<Vec<u8>, StoreError> {
    let unreadable = |why: String| StoreError::Corrupt(format!("stored {what} is unreadable: {why}"));
    if blob.starts_with(&GZIP_MAGIC) {
        let mut json = Vec::new();
        let mut decoder = flate2::read::GzDecoder::new(blob).take(MAX_JSON_BYTES as u64 + 1);
        decoder.read_to_end(&mut json).map_err(|e| unreadable(e.to_string()))?;
        return within_bound(json).map_err(unreadable);
    }
    let mut inflate = Decompress::new(true);
    let mut json = Vec::with_capacity(blob.len() * 4);
    loop {
        let consumed = inflate.total_in() as usize;
        let produced = inflate.total_out();
        let input = blob.get(consumed..).unwrap_or_default();
        match inflate.decompress_vec(input, &mut json, FlushDecompress::Finish) {
            Ok(Status::StreamEnd) => return within_bound(json).map_err(unreadable),
            Ok(_) => {
                if json.len() > MAX_JSON_BYTES {
                    return Err(unreadable(format!("it expands past {MAX_JSON_BYTES} bytes")));
                }
                let progressed = inflate.total_in() as usize != consumed || inflate.total_out() != produced;
                if json.len() == json.capacity() {
                    json.reserve(json.capacity().max(1024));
                } else if !progressed {
                    return Err(unreadable("the stream ends early".to_string()));
                }
            }
            Err(error) => match error.needs_dictionary() {
                Some(id) if id == DICTIONARY_ID => {
                    inflate.set_dictionary(DICTIONARY).map_err(|e| unreadable(e.to_string()))?;
                }
                Some(id) => return Err(unreadable(format!("written with an unknown dictionary ({id:#010x})"))),
                None => return Err(unreadable(error.to_string())),
            },
        }
    }
}

fn within_bound(json: Vec<u8>) -> Result<Vec<u8>, String> {
    match json.len() > MAX_JSON_BYTES {
        true => Err(format!("it expands past {MAX_JSON_BYTES} bytes")),
        false => Ok(json),
    }
}

/// The dictionary's Adler-32, as a zlib header names it; computed once, when compiled.
const DICTIONARY_ID: u32 = adler32(DICTIONARY);

const fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b, mut i) = (1u32, 0u32, 0);
    while i < bytes.len() {
        a = (a + bytes[i] as u32) % 65_521;
        b = (b + a) % 65_521;
        i += 1;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_the_one_items_were_written_with() {
        // Changing these bytes makes every item written with them unreadable: add a new
        // dictionary instead (see DICTIONARY).
        assert_eq!(DICTIONARY.len(), 13_797);
        assert_eq!(DICTIONARY_ID, 0xd4a5_5d17);
    }

    #[test]
    fn json_round_trips_and_names_the_dictionary_in_its_header() {
        let json =
            br#"{"stages":[{"name":"Source","actions":[{"name":"Bundle","attempts":[]}],"status":"InProgress"}]}"#;
        let stored = compress(json).unwrap();
        assert_eq!(stored[0] & 0x0f, 8, "a zlib stream of deflate");
        assert_ne!(stored[1] & 0x20, 0, "whose header says a dictionary is needed");
        assert_eq!(u32::from_be_bytes(stored[2..6].try_into().unwrap()), DICTIONARY_ID);
        assert_eq!(decompress(&stored, "execution").unwrap(), json);
    }

    #[test]
    fn the_dictionary_halves_an_execution_against_gzip() {
        let execution = serde_json::json!({
            "artifactRevisions": [], "artifacts": {}, "attempt": 1, "id": "b03c0229-4621-46c1-97e3-cb8b6d96bc0a",
            "mode": "SUPERSEDED", "namespaces": {}, "pipelineName": "web", "pipelineVersion": 3,
            "stages": [{"actions": [{"attempts": [{"actionExecutionId": "a84fb749-3748-4c3e-b561-959f8dc8e2a9",
                "deadline": 1796421379379_u64, "error": null, "externalExecutionId": null, "externalExecutionUrl": null,
                "inputArtifacts": [], "job": {"continuationToken": null, "heartbeatDeadline": null,
                "id": "23b65264-24a1-426e-875a-9073a3f06c23", "sequence": 1}, "lastUpdatedBy": "pipewright",
                "number": 1, "outputArtifacts": [], "outputVariables": {}, "percentComplete": 100,
                "resolvedConfiguration": {}, "stageRun": 1, "startedAt": 1796417779379_u64, "status": "Succeeded",
                "summary": null, "token": null, "updatedAt": 1796417779491_u64}], "name": "Fetch"}],
                "autoRetries": 0, "latestRetryTrigger": null, "manualRetries": 0, "name": "Source", "run": 1,
                "status": "Succeeded"}],
            "status": "InProgress", "trigger": {"triggerType": "StartPipelineExecution"}
        })
        .to_string();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gzip.write_all(execution.as_bytes()).unwrap();
        let (gzipped, stored) = (gzip.finish().unwrap(), compress(execution.as_bytes()).unwrap());
        assert!(stored.len() * 2 <= gzipped.len(), "{} B with the dictionary, {} B gzip", stored.len(), gzipped.len());
    }

    #[test]
    fn gzip_written_before_the_dictionary_still_reads() {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gzip.write_all(b"{\"version\":1}").unwrap();
        assert_eq!(decompress(&gzip.finish().unwrap(), "state").unwrap(), b"{\"version\":1}");
    }

    #[test]
    fn damaged_or_foreign_streams_are_permanent_errors_naming_the_attribute() {
        let mut stored = compress(b"{\"version\":1,\"stages\":[]}").unwrap();
        let last = stored.len() - 1;
        stored[last] ^= 0xff; // the trailer's checksum
        let truncated = compress(b"{\"version\":1,\"stages\":[]}").unwrap()[..8].to_vec();
        let mut other = Compress::new(Compression::default(), true);
        other.set_dictionary(b"another dictionary").unwrap();
        let mut encoder = flate2::write::ZlibEncoder::new_with_compress(Vec::new(), other);
        encoder.write_all(b"{}").unwrap();
        let foreign = encoder.finish().unwrap();
        for (blob, why) in [
            (stored, "unreadable"),
            (truncated, "unreadable"),
            (foreign, "unknown dictionary"),
            (b"no zlib".to_vec(), "unreadable"),
            (Vec::new(), "unreadable"),
        ] {
            let error = decompress(&blob, "pipeline state").unwrap_err();
            assert!(error.is_permanent(), "{error}");
            let text = error.to_string();
            assert!(text.contains("stored pipeline state is unreadable") && text.contains(why), "{text}");
        }
    }
}
