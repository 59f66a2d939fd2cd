fn main() {
    kubeha_runtime::run::<etcd_config::EtcdConfig>()
}
