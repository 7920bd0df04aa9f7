use kyc_aggregator_mgt::startup;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kyc_common::run::run_main("kyc_aggregator_mgt", startup::build).await
}
