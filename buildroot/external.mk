include $(sort $(wildcard $(BR2_EXTERNAL_TAPSCOPE_PATH)/package/*/*.mk))
