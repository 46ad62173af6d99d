resource "aws_iam_role" "node" {
  name_prefix = "${var.cluster_name}-node-"
  tags        = var.tags
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset(["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore"])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.value}"
}

# One launch template per group: IMDSv2 required with a hop limit of 1, so pods (other than host-network ones such
# as aws-node) cannot reach the node role through the instance metadata service: workloads use IRSA. Encrypted
# gp3 root volume, tags on instances and volumes.
resource "aws_launch_template" "node" {
  for_each = var.node_groups

  name_prefix            = "${var.cluster_name}-${each.key}-"
  update_default_version = true
  tags                   = var.tags

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = each.value.disk_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-${each.key}", "eks-nodegroup" = each.key })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-${each.key}" })
  }
}

resource "aws_eks_node_group" "this" {
  for_each = var.node_groups

  cluster_name    = aws_eks_cluster.this.name
  node_group_name = each.key
  node_role_arn   = aws_iam_role.node.arn
  # Follows the control plane: without it EKS sets the cluster's version at creation and the provider does no
  # drift detection, so after a cluster_version change nothing rolls the nodes (harness rehearse: version-pins).
  version        = aws_eks_cluster.this.version
  subnet_ids     = var.node_subnet_ids
  instance_types = each.value.instance_types
  capacity_type  = each.value.capacity_type
  ami_type       = each.value.ami_type
  labels         = each.value.labels
  tags           = var.tags

  scaling_config {
    min_size     = each.value.min_size
    max_size     = each.value.max_size
    desired_size = each.value.desired_size
  }

  launch_template {
    id      = aws_launch_template.node[each.key].id
    version = aws_launch_template.node[each.key].latest_version
  }

  dynamic "taint" {
    for_each = each.value.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = taint.value.effect
    }
  }

  update_config {
    max_unavailable = 1
  }

  # The cluster autoscaler / kube-downscaler own desired_size once the group exists.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  # Nodes join Ready only when the VPC CNI can assign pod addresses.
  depends_on = [aws_iam_role_policy_attachment.node, aws_eks_addon.vpc_cni]
}
