//! Fix application: generated N+1 loops (and grammar programs) fixed until stable must parse, and
//! a second pass must change nothing.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let text = match u.int_in_range(0..=3u8) {
        Ok(0) => inbatch_fuzz::python(&mut u),
        Ok(_) => inbatch_fuzz::n_plus_one(&mut u),
        Err(_) => return,
    };
    if let Ok(text) = text {
        inbatch_fuzz::check_fix(&text);
    }
});
