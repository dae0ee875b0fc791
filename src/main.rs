use std::process::ExitCode;

fn main() -> ExitCode {
    krm_intake::tls::install_crypto_provider();
    krm_intake::cli::main()
}
