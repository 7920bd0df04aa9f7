use kyc_credit_check_basic::{configuration, startup};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kyc_common::run::run_main(
        "kyc_credit_check_basic",
        configuration::Settings::load,
        |s| &s.common,
        startup::build,
    )
    .await
}
