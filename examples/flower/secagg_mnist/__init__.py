"""FedAvg on MNIST in Flower with secagg: copy this app and change what you need."""
