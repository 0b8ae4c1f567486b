//! `pem`: the bundle of every currently trusted root, and nothing else — for any
//! software not covered by another target (`curl --cacert`, `SSL_CERT_FILE`, proxies,
//! monitoring).

use super::{Emission, EmitContext, EmittedFile, Target};
use crate::error::Result;
use crate::store;

/// The bundle's file name.
pub use super::BUNDLE;

/// Renders the bundle.
pub fn emit(cx: &EmitContext<'_>) -> Result<Emission> {
    let context = cx.base(Target::Pem, None);
    let mut emission = Emission::default();
    emission.files.push(EmittedFile::new(
        BUNDLE,
        cx.render("roots-bundle.pem.j2", &context)?,
        store::PUBLIC_MODE,
        format!("the {} trusted root(s), PEM", cx.bundle.trusted().len()),
    ));
    Ok(emission)
}
