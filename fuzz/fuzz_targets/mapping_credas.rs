//! credas's mapping from wire JSON to the domain: never panics, and its case is safe.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(case) = kycdesk::providers::credas::fuzz_mapping(data) {
        let text = format!("{case:?}");
        assert!(!text.contains('\u{1b}'), "an escape reached the domain");
    }
});
