fn main() {
    kubeha_runtime::run::<keepalived_config::KeepalivedConfig>()
}
