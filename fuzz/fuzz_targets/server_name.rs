//! Fuzzes every parser that takes user text: server names, --alt names, --permit
//! subtrees and validities. None may panic; every accepted server name must survive
//! display → parse unchanged and map to a safe directory name.
#![no_main]

use fedca::authority::Permit;
use fedca::name::{AltName, ServerName};
use fedca::validity::Validity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = ServerName::parse(text) {
        let shown = name.to_string();
        let again = ServerName::parse(&shown).expect("display output must parse");
        assert_eq!(again, name);
        assert_eq!(again.to_string(), shown);
        let dir = name.dir_name();
        assert!(!dir.is_empty() && !dir.starts_with('.'));
        assert!(!dir.contains(['/', '\\', ':', '\0']));
        let _ = name.host().verify_name();
    }
    if let Ok(alt) = AltName::parse(text) {
        let _ = alt.san_text();
        let again = AltName::parse(&alt.to_string()).expect("display output must parse");
        assert_eq!(again, alt);
    }
    if let Ok(p) = Permit::parse(text) {
        assert_eq!(Permit::parse(&p.to_string()).ok(), Some(p));
    }
    if let Ok(v) = Validity::parse(text) {
        assert_eq!(Validity::parse(&v.to_string()).ok(), Some(v));
    }
});
