//! The engine on structure-aware Python: programs from a small grammar of loops and queries, and
//! fixtures spliced line-wise, each possibly cut at a random point (half-typed code).
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(splice) = u.arbitrary::<bool>() else {
        return;
    };
    let text = if splice {
        inbatch_fuzz::splice(&mut u)
    } else {
        inbatch_fuzz::python(&mut u)
    };
    let Ok(mut text) = text else {
        return;
    };
    if let Ok(cut) = u.arbitrary::<u16>() {
        if cut % 4 == 0 {
            let mut at = usize::from(cut) % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.truncate(at);
        }
    }
    inbatch_fuzz::analyse(text);
});
