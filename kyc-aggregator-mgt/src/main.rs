use kyc_aggregator_mgt::{configuration, startup};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kyc_common::run::run_main(
        "kyc_aggregator_mgt",
        configuration::Settings::load,
        |s| &s.common,
        startup::build,
    )
    .await
}
