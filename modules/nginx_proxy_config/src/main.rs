fn main() {
    kubeha_runtime::run::<nginx_proxy_config::NginxProxyConfig>()
}
