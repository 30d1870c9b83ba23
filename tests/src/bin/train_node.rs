//! `riskfn train` as a process of its own, for the fault suite to kill part-way through a
//! publish. The store's S3 settings come from the environment, as `riskfn` reads them.
//!
//!     train_node <pipeline> <store-uri>

const USAGE: &str = "usage: train_node <pipeline> <store-uri>";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (pipeline, store) = (args.next().ok_or(USAGE)?, args.next().ok_or(USAGE)?);
    let report = riskfn_batch::train::train(&riskfn_batch::train::TrainOptions {
        s3: riskfn_core::registry::s3::S3Settings::from_env()?,
        ..riskfn_tests::train_options(&pipeline, &store)
    })
    .await?;
    println!("{}", report.version);
    Ok(())
}
