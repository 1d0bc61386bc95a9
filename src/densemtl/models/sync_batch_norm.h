// Synchronised batch norm (train.sync_bn) for multi-process training: while switched on and the
// run has several processes (core/collective.h), every batch norm in training mode normalises
// with the mean and variance of the global batch (sums over the processes, in the autograd graph:
// the backward pass sums the statistics' gradients over the processes too) and updates its
// running statistics with them, exactly as one process would on the whole batch. Off, each
// process normalises with its own part of the batch (as PyTorch's DDP without SyncBatchNorm).
#pragma once

namespace densemtl::models {

void set_sync_batch_norm(bool on);
bool sync_batch_norm();

}  // namespace densemtl::models
