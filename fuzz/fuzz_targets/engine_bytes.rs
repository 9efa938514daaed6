//! The engine on arbitrary bytes, decoded as the server decodes what is not UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    inbatch_fuzz::analyse(String::from_utf8_lossy(data).into_owned());
});
