# A root module that forgot variable "node_groups".
variable "project" {
  type    = string
  default = "mlops"
}

variable "environment" {
  type    = string
  default = "local"
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "cluster_version" {
  type    = string
  default = "1.35"
}

variable "availability_zones" {
  type    = list(string)
  default = ["us-east-1a", "us-east-1b"]
}
