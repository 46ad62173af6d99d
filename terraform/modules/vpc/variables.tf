variable "name" {
  description = "Name prefix for the VPC's resources."
  type        = string
}

variable "region" {
  description = "AWS region, for the S3 gateway endpoint's service name."
  type        = string
}

variable "cidr" {
  description = "VPC CIDR block; split into /20 subnets."
  type        = string
}

variable "availability_zones" {
  description = "Exactly two zones: subnets in both (EKS needs two for its control plane), NAT and nodes in the first."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2
    error_message = "availability_zones must hold exactly two zones."
  }
}

variable "cluster_name" {
  description = "EKS cluster name, for the subnet discovery tags of load balancers."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "node_subnet_tags" {
  description = "Extra tags on the node subnet only (the first private subnet): Karpenter's discovery tag, so the nodes it launches stay in the single node zone."
  type        = map(string)
  default     = {}
}
