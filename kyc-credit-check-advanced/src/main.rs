use kyc_credit_check_advanced::startup;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kyc_common::run::run_main("kyc_credit_check_advanced", startup::build).await
}
