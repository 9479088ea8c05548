"""Labelled face data sets: readers of the common layouts, decoded faces and their cache, cleaning, sampling."""
