fn main() {
    kubeha_runtime::run::<haproxy_config::HaproxyConfig>()
}
