fn main() -> std::process::ExitCode {
    ajuste_trainer::cli::main()
}
