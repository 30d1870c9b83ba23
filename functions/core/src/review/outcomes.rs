//! Where back-tests on outcomes are kept beside each version, as drift reports are:
//! `<pipeline>/outcomes/versions/<version>/<time>.json` (the version's result) with the page
//! drawn from it beside it (`.html`). `riskfn outcomes report` writes them; the console
//! shows the newest.

use bytes::Bytes;

use crate::registry::store::Store;

pub fn reports_prefix(pipeline: &str, version: &str) -> String {
    format!("{pipeline}/outcomes/versions/{version}/")
}

/// The newest back-test kept on `version`: its key and its JSON.
pub async fn latest_report(
    store: &dyn Store,
    pipeline: &str,
    version: &str,
) -> crate::Result<Option<(String, Bytes)>> {
    crate::contract::artifact::check_name(pipeline)?;
    crate::contract::artifact::check_name(version)?;
    let keys = store.list(&reports_prefix(pipeline, version)).await?;
    let Some(key) = keys.iter().rfind(|k| k.ends_with(".json")) else {
        return Ok(None);
    };
    Ok(store.get(key).await?.map(|o| (key.clone(), o.bytes)))
}

/// The page of the newest back-test kept on `version`.
pub async fn latest_page(
    store: &dyn Store,
    pipeline: &str,
    version: &str,
) -> crate::Result<Option<Bytes>> {
    let Some((key, _)) = latest_report(store, pipeline, version).await? else {
        return Ok(None);
    };
    let page = key.trim_end_matches(".json").to_owned() + ".html";
    Ok(store.get(&page).await?.map(|o| o.bytes))
}
